"""Notifications: channels (e-mail, webhooks), the events each listens to, deliveries off the
jobs' path, and the periodic checks that raise alarms when nothing runs."""
