"""Notifications out: the events worth a person's attention, sent once each through Apprise.

`texts.py` derives the events between two observations and writes their messages;
`outbox.py` is `notify.json`, where the observation and the messages are written together
before anything is sent; `send.py` sends one message to one URL; `notifier.py` runs the
writer's outbox and its delivery thread.
"""
