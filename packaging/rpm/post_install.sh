# Let a running systemd see the new or changed units. They are not enabled:
# the admin enables check_ephemeral-prometheus.timer when node_exporter's
# textfile collector is set up.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
