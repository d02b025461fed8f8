# kdoc2man.awk - section 3 man pages from the kernel-doc of include/upager.h.
#
#   awk -v outdir=DIR -v version=0.1.0 -f kdoc2man.awk include/upager.h
#
# Writes DIR/NAME.3 for every function declared with UPG_API after a
# kernel-doc comment ("/**", "name() - summary", "@arg: text", free text,
# "Return: ...", "Context: ...", "Return, context: ..."), and prints the
# names written, one per line.  Run by the build (CMakeLists.txt, target
# upager_man3); POSIX awk (mawk, gawk, busybox).
#
# Layout of a page: NAME, SYNOPSIS (the prototype as declared), ARGUMENTS,
# DESCRIPTION, RETURN VALUE, CONTEXT, SEE ALSO (every upg_*() the comment
# names, and upager(7)).  In the text, name() of a function becomes bold
# and @arg italic; tab-indented lines are code, " - " lines are a list.

function esc(s) {
	gsub(/\\/, "\\e", s)
	# a minus sign, not a hyphen, in -EINVAL and the like (copy-paste)
	gsub(/-E/, "\\-E", s)
	return s
}

# Text of the comment: escaped, with function names bold, @args italic.
function markup(s,    out, m) {
	s = esc(s)
	out = ""
	while (match(s, /@[A-Za-z_][A-Za-z_0-9]*|upg_[a-z_0-9]+\(\)/)) {
		m = substr(s, RSTART, RLENGTH)
		out = out substr(s, 1, RSTART - 1)
		if (substr(m, 1, 1) == "@")
			out = out "\\fI" substr(m, 2) "\\fP"
		else
			out = out "\\fB" substr(m, 1, RLENGTH - 2) "\\fP()"
		s = substr(s, RSTART + RLENGTH)
	}
	return out s
}

# A text line for the page: never starting with a control character.
function line(s) {
	sub(/^[ \t]+/, "", s)
	if (s ~ /^[.']/)
		s = "\\&" s
	return s
}

function reset() {
	name = ""; summary = ""; nargs = 0; nbody = 0; ret = ""; ctx = ""
	section = "summary"; proto = ""; split("", seen)
	delete_refs()
}

function delete_refs(    k) {
	for (k in refs)
		delete refs[k]
}

function add_refs(s,    m) {
	while (match(s, /upg_[a-z_0-9]+\(\)/)) {
		m = substr(s, RSTART, RLENGTH - 2)
		if (m != name)
			refs[m] = 1
		s = substr(s, RSTART + RLENGTH)
	}
}

# One line of the comment, without its " * " prefix.
function comment_line(s,    t, k) {
	add_refs(s)
	if (section == "summary" && name == "") {
		# "name() - summary"
		k = index(s, "() - ")
		name = substr(s, 1, k - 1)
		summary = substr(s, k + 5)
		return
	}
	t = s
	sub(/^[ ]+/, "", t)
	if (t ~ /^@[A-Za-z_0-9]+:/) {
		section = "args"
		k = index(t, ":")
		argname[++nargs] = substr(t, 2, k - 2)
		argtext[nargs] = substr(t, k + 1)
		return
	}
	if (t ~ /^Return, context:/) {
		section = "retctx"
		ret = substr(t, 17)
		return
	}
	if (t ~ /^Return:/) {
		section = "return"
		ret = substr(t, 8)
		return
	}
	if (t ~ /^Context:/) {
		section = "context"
		ctx = substr(t, 9)
		return
	}
	if (t == "") {
		if (section == "summary" || section == "args")
			section = "body"
		if (section == "body" && nbody > 0 && body[nbody] != "")
			body[++nbody] = ""
		return
	}
	if (section == "summary") {
		summary = summary " " t
	} else if (section == "args" && s ~ /^[ \t]/) {
		argtext[nargs] = argtext[nargs] " " t
	} else if (section == "return" || section == "retctx") {
		ret = ret "\n" s
	} else if (section == "context") {
		ctx = ctx " " t
	} else {
		section = "body"
		body[++nbody] = s
	}
}

# Lines of free text (body, return): paragraphs, code, lists.
function emit_text(n, arr, out,    i, s, mode) {
	mode = "text"
	for (i = 1; i <= n; i++) {
		s = arr[i]
		if (s ~ /^\t/) {
			if (mode != "code") {
				print ".PP\n.EX" > out
				mode = "code"
			}
			sub(/^\t/, "", s)
			gsub(/\t/, "        ", s)
			if (s ~ /^[.']/)
				s = "\\&" s
			print esc(s) > out
			continue
		}
		if (mode == "code") {
			print ".EE" > out
			mode = "text"
			if (s != "")
				print ".PP" > out
		}
		if (s == "") {
			print ".PP" > out
			mode = "text"
		} else if (s ~ /^ ?- /) {
			sub(/^ ?- /, "", s)
			print ".IP \\(bu 2" > out
			print line(markup(s)) > out
			mode = "list"
		} else {
			print line(markup(s)) > out
		}
	}
	if (mode == "code")
		print ".EE" > out
}

# The prototype in bold, broken after commas to fit 72 columns, the
# continuation lines aligned after the "(".
function print_proto(out,    head, rest, indent, cur, k, piece) {
	k = index(proto, "(")
	head = substr(proto, 1, k)
	rest = substr(proto, k + 1)
	indent = sprintf("%" k "s", "")
	cur = head
	while ((k = index(rest, ", ")) > 0) {
		piece = substr(rest, 1, k)
		rest = substr(rest, k + 2)
		if (length(cur) + length(piece) > 72 && cur != head) {
			print ".B \"" esc(cur) "\"" > out
			cur = indent
		}
		cur = cur (cur == head || cur == indent ? "" : " ") piece
	}
	if (length(cur) + length(rest) > 72 && cur != head) {
		print ".B \"" esc(cur) "\"" > out
		cur = indent
	}
	cur = cur (cur == head || cur == indent ? "" : " ") rest
	print ".B \"" esc(cur) "\"" > out
}

function write_page(    out, i, k, n, lines, first, sorted, nref, j, tmp) {
	out = outdir "/" name ".3"
	gsub(/[ \t]+/, " ", proto)
	sub(/^ ?UPG_API /, "", proto)
	gsub(/\( /, "(", proto)
	print ".\\\" Generated from include/upager.h by docs/man/kdoc2man.awk: edit the header." > out
	print ".TH " toupper(name) " 3 \"\" \"upager " version "\" \"upager Manual\"" > out
	print ".SH NAME" > out
	nm = summary
	gsub(/@/, "", nm)
	print name " \\- " line(esc(nm)) > out
	print ".SH SYNOPSIS" > out
	print ".nf" > out
	print ".B #include <upager.h>" > out
	print ".PP" > out
	print_proto(out)
	print ".fi" > out
	print ".PP" > out
	print "Link with \\fI\\-lupager\\fP (pkg-config \\fIupager\\fP)." > out
	if (nargs > 0) {
		print ".SH ARGUMENTS" > out
		for (i = 1; i <= nargs; i++) {
			print ".TP" > out
			print ".I " argname[i] > out
			print line(markup(argtext[i])) > out
		}
	}
	print ".SH DESCRIPTION" > out
	print "\\fB" name "\\fP(): " markup(summary) > out
	while (nbody > 0 && body[nbody] == "")
		nbody--
	if (nbody > 0) {
		print ".PP" > out
		emit_text(nbody, body, out)
	}
	if (ret != "") {
		print ".SH RETURN VALUE" > out
		n = split(ret, lines, "\n")
		emit_text(n, lines, out)
	}
	if (section == "retctx" || ctx != "") {
		print ".SH CONTEXT" > out
		if (ctx != "")
			print line(markup(ctx)) > out
		else
			print "As given under RETURN VALUE." > out
	}
	print ".SH SEE ALSO" > out
	nref = 0
	for (k in refs)
		if (k != name)
			sorted[++nref] = k
	for (i = 2; i <= nref; i++)
		for (j = i; j > 1 && sorted[j - 1] > sorted[j]; j--) {
			tmp = sorted[j]; sorted[j] = sorted[j - 1]; sorted[j - 1] = tmp
		}
	for (i = 1; i <= nref; i++)
		print ".BR " sorted[i] " (3)," > out
	print ".BR upager (7)" > out
	close(out)
	print name
}

BEGIN { reset(); state = "code" }

state == "code" && /^\/\*\*[ \t]*$/ { reset(); state = "comment"; next }

state == "comment" {
	if ($0 ~ /^[ \t]*\*\/[ \t]*$/) {
		state = "decl"
		next
	}
	s = $0
	sub(/^[ \t]*\*/, "", s)
	sub(/^ /, "", s)
	comment_line(s)
	next
}

state == "decl" {
	proto = proto " " $0
	if ($0 ~ /;/) {
		if (proto ~ /^[ \t]*UPG_API/ && name != "")
			write_page()
		state = "code"
	}
	next
}
