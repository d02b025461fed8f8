#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check that the folders of runtime/ include only folders below them.

Usage:
  check-layers.py [--root DIR] [--layers FILE]   check the tree (default:
                                                 the checkout this script
                                                 is in, docs/layers.txt)
  check-layers.py --self-test                    prove the check fails on
                                                 an upward, a same-level and
                                                 an unlisted include

The order is read from docs/layers.txt: one layer per line, bottom first,
peers on one line.  Every '#include "dir/..."' of runtime/<folder>/ is
checked; an include of a folder on a higher line (upward), of a peer
(same level) or of a folder missing from the list fails, and each one is
printed with its file and line.  Exit status: 0 clean, 1 violations,
2 unusable input.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

INCLUDE = re.compile(r'^\s*#\s*include\s+"([A-Za-z0-9_]+)/[^"]+"')
HERE = os.path.dirname(os.path.abspath(__file__))


def read_layers(path):
    """Return {folder: level} from the layers file (level 0 = bottom)."""
    level = {}
    lv = 0
    with open(path) as f:
        for n, line in enumerate(f, 1):
            words = line.split('#', 1)[0].split()
            if not words:
                continue
            for d in words:
                if d in level:
                    raise ValueError('%s:%d: %s is listed twice' %
                                     (path, n, d))
                level[d] = lv
            lv += 1
    return level


def check(root, layers_path):
    """Return a list of violation messages for runtime/ under @root."""
    level = read_layers(layers_path)
    rt = os.path.join(root, 'runtime')
    bad = []
    for d in sorted(os.listdir(rt)):
        full = os.path.join(rt, d)
        if not os.path.isdir(full):
            continue
        if d not in level:
            bad.append('runtime/%s/: folder not in %s: add it on the line '
                       'of its layer' % (d, os.path.relpath(layers_path,
                                                            root)))
            continue
        for dirpath, _, files in os.walk(full):
            for name in sorted(files):
                if not name.endswith(('.c', '.h')):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root)
                with open(path, errors='replace') as f:
                    for n, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m or m.group(1) == d:
                            continue
                        to = m.group(1)
                        if to not in level:
                            if os.path.isdir(os.path.join(rt, to)):
                                bad.append('%s:%d: includes %s/, which is '
                                           'not in the layer list' %
                                           (rel, n, to))
                            continue
                        if level[to] > level[d]:
                            bad.append('%s:%d: upward include: %s (layer '
                                       '%d) -> %s (layer %d)' %
                                       (rel, n, d, level[d], to, level[to]))
                        elif level[to] == level[d]:
                            bad.append('%s:%d: same-level include: %s -> %s '
                                       '(peers include none of each other)' %
                                       (rel, n, d, to))
    return bad


def self_test():
    """Run the check over copies of a small tree with one bad include each;
    each must fail naming it, and the clean copy must pass."""
    ok = True
    with tempfile.TemporaryDirectory(prefix='check-layers-') as tmp:
        layers = os.path.join(tmp, 'layers.txt')
        with open(layers, 'w') as f:
            f.write('# test\nlow\npeer_a peer_b\nhigh\n')

        def tree(extra):
            root = tempfile.mkdtemp(dir=tmp)
            for d in ('low', 'peer_a', 'peer_b', 'high'):
                os.makedirs(os.path.join(root, 'runtime', d))
            files = {
                'low/low.h': '#include "upager.h"\n',
                'peer_a/a.c': '#include "low/low.h"\n#include "peer_a/a.h"\n',
                'peer_b/b.c': '#include "low/low.h"\n',
                'high/h.c': '#include "peer_a/a.h"\n#include "peer_b/b.h"\n',
            }
            files.update(extra)
            for rel, text in files.items():
                p = os.path.join(root, 'runtime', rel)
                os.makedirs(os.path.dirname(p), exist_ok=True)
                with open(p, 'a') as f:
                    f.write(text)
            return root

        cases = [
            ('clean', {}, None),
            ('upward', {'low/low.c': '#include <stdio.h>\n'
                        '#include "high/h.h"\n'}, 'runtime/low/low.c:2: '
             'upward include: low (layer 0) -> high'),
            ('same level', {'peer_b/b.h': '  # include "peer_a/a.h"\n'},
             'runtime/peer_b/b.h:1: same-level include: peer_b -> peer_a'),
            ('unlisted folder', {'extra/x.c': '#include "low/low.h"\n'},
             'runtime/extra/: folder not in'),
        ]
        for name, extra, want in cases:
            root = tree(extra)
            r = subprocess.run([sys.executable, os.path.abspath(__file__),
                                '--root', root, '--layers', layers],
                               capture_output=True, text=True)
            if want is None:
                good = r.returncode == 0
            else:
                good = r.returncode == 1 and want in r.stdout
            print('self-test %-16s %s' % (name, 'ok' if good else 'FAILED'))
            if not good:
                print(r.stdout + r.stderr)
                ok = False
            shutil.rmtree(root)
    return 0 if ok else 1


def main(argv):
    root = os.path.dirname(HERE)
    layers = None
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == '--self-test':
            return self_test()
        if a in ('--root', '--layers') and args:
            v = args.pop(0)
            if a == '--root':
                root = v
            else:
                layers = v
        else:
            print(__doc__.strip(), file=sys.stderr)
            return 2
    layers = layers or os.path.join(root, 'docs', 'layers.txt')
    try:
        bad = check(root, layers)
    except (OSError, ValueError) as e:
        print('check-layers: %s' % e, file=sys.stderr)
        return 2
    for b in bad:
        print(b)
    if bad:
        print('check-layers: %d include(s) break the layer order of %s: '
              'move the code to the layer that may include it, or call '
              'it through a hook installed from above' %
              (len(bad), os.path.relpath(layers, root)))
        return 1
    print('check-layers: runtime/ follows %s' % os.path.relpath(layers, root))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
