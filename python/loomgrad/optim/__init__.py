"""loomgrad.optim (under construction)"""
