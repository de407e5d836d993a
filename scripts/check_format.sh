#!/bin/sh
# Fails when a tracked or new C file is not clang-formatted (`make format` fixes it).
files=$(git ls-files --cached --others --exclude-standard '*.c' '*.h' 2>/dev/null)
[ -z "$files" ] && files=$(find src include tests bench -name '*.[ch]')
out=$(clang-format --dry-run --Werror $files 2>&1)
if [ -n "$out" ]; then
    echo "$out" | grep 'error:' | head -20
    echo "format: FAILED (run: make format)"
    exit 1
fi
echo "format: ok"
