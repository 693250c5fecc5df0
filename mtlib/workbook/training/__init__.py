"""Training the workbook's stages: the stage chain (with the workbook's figures), the recipe (the
stages without notebooks) and sweeps of recipes."""
