"""Storage of the consensus process: proposals, moots, the decision record, roles and petitions."""
