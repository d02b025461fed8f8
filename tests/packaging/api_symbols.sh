# api_symbols.sh - sourced: api_symbols HEADER prints the name of every
# function the header declares with UPG_API, one per line, sorted.
api_symbols() {
	# A declaration may span lines: join each UPG_API line with the next
	# ones up to the "(" that follows the name.
	awk '
	/^UPG_API/ { decl = $0; collecting = 1 }
	collecting && !/^UPG_API/ { decl = decl " " $0 }
	collecting && decl ~ /\(/ {
		sub(/\(.*/, "", decl)
		n = split(decl, w, /[ \t*]+/)
		print w[n]
		collecting = 0
	}' "$1" | sort -u
}
