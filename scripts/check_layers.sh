#!/bin/sh
# Rejects an #include that points up the layers (see ../shared/BRIEF.md).
# Rank: a file in layer L may include headers of layers with rank <= L.
# Prints "ok" or one line per violation and exits non-zero.
rank() {
    case "$1" in
    util) echo 0 ;; engine) echo 1 ;; keyspace) echo 2 ;; metrics) echo 3 ;;
    server) echo 4 ;; commands) echo 5 ;; repl) echo 6 ;; cluster) echo 7 ;;
    *) echo 99 ;;
    esac
}
bad=0
for f in $(find src -name '*.[ch]' ! -path 'src/bin/*'); do
    layer=$(echo "$f" | cut -d/ -f2)
    mine=$(rank "$layer")
    for inc in $(grep -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" | sed -E 's/.*"([^"]+)".*/\1/'); do
        case "$inc" in
        */*) other=$(echo "$inc" | cut -d/ -f1) ;;
        *) continue ;;
        esac
        [ "$other" = "strata" ] && continue
        theirs=$(rank "$other")
        if [ "$theirs" -gt "$mine" ]; then
            echo "layering: $f ($layer) includes $inc ($other is above it)"
            bad=1
        fi
    done
done
[ $bad -eq 0 ] && echo "layering: ok"
exit $bad
