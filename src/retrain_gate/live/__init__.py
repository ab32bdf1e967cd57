"""The long-running side of retrain-gate: the service behind `watch` and the dashboard, the
export-folder watcher, the writer lock, the pull schedule and notifications. Everything it has
to say is a typed event (`live.events`)."""
