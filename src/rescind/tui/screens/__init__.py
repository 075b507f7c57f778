"""The app's screens: home, incident, timeline, record."""
