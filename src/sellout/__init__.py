"""sellout: weekly retailer sell-out files to demand forecasts in Tableau."""

__version__ = "0.1.0"
