# After removal or upgrade: reload a running systemd; after an upgrade
# ($1 >= 1), restart the timer if it runs, so it uses the new units.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    if [ "$1" -ge 1 ]; then
        systemctl try-restart check_ephemeral-prometheus.timer >/dev/null 2>&1 || :
    fi
fi
