#!/usr/bin/env python3
"""Lists functions in lib/ and cmd/ longer than the limit (80 lines).

A function may be longer only with a comment line `/* long: REASON */`
right above its header comment or header.  Exit 1 when one is over.
Usage: func_length.py SOURCE_DIR [LIMIT]
"""
import glob
import os
import re
import sys

HEADER = re.compile(r'^[A-Za-z_][^;{}]*\(')


def functions(path):
    """Yields (name, first line, length) of each function in path."""
    lines = open(path, encoding='utf-8').read().split('\n')
    i = 0
    while i < len(lines):
        if HEADER.match(lines[i]) and not lines[i].rstrip().endswith(';'):
            j = i
            while j < len(lines) and lines[j] != '{' and \
                    not lines[j].rstrip().endswith(';'):
                j += 1
            if j < len(lines) and lines[j] == '{':
                k = j
                while k < len(lines) and lines[k] != '}':
                    k += 1
                name = re.search(r'(\w+)\s*\(', lines[i])
                yield name.group(1), i, lines, k - j + 1
                i = k
        i += 1


def excused(lines, first):
    """Whether a /* long: ... */ line sits above the function's header."""
    k = first - 1
    while k >= 0 and (lines[k].startswith((' *', '/*')) or
                      lines[k].startswith('static')):
        if lines[k].startswith('/* long:'):
            return True
        k -= 1
    return False


def main():
    src = sys.argv[1]
    limit = int(sys.argv[2]) if len(sys.argv) > 2 else 80
    over = []
    for path in sorted(glob.glob(os.path.join(src, 'lib', '*', '*.c')) +
                       glob.glob(os.path.join(src, 'cmd', '*.c'))):
        for name, first, lines, n in functions(path):
            if n > limit and not excused(lines, first):
                over.append('%s:%d: %s is %d lines (limit %d)' %
                            (os.path.relpath(path, src), first + 1, name, n,
                             limit))
    print('\n'.join(over) if over else 'every function is at most %d lines'
          % limit)
    return 1 if over else 0


if __name__ == '__main__':
    sys.exit(main())
