"""Reading retailer files: finding them in the landing folders, parsing them per source config."""
