from django.apps import AppConfig


class NetsuiteConfig(AppConfig):
    name = "netsuite"
