"""Centre de ressources: the knowledge library of the Mouvement des Régies."""

__version__ = "0.1.0"
