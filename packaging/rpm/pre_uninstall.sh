# On removal ($1 = 0; an upgrade passes 1): stop the units and remove the
# admin's enable links, which would dangle otherwise. systemctl disable only
# edits links, so it works without a running systemd as well.
if [ "$1" -eq 0 ] && command -v systemctl >/dev/null 2>&1; then
    if [ -d /run/systemd/system ]; then
        systemctl --no-reload disable --now check_ephemeral-prometheus.timer \
            check_ephemeral-prometheus.service >/dev/null 2>&1 || :
    else
        systemctl --no-reload disable check_ephemeral-prometheus.timer \
            check_ephemeral-prometheus.service >/dev/null 2>&1 || :
    fi
fi
