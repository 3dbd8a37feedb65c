"""What the system looks like: system information, the table list, the application's users."""
