"""Shot detectors: the contract (:mod:`.base`) and one module per detector family."""
