"""The web application: HTML pages by audience and the JSON API."""
