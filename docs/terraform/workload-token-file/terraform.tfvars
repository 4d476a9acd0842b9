token_file = "/run/vault-entropy/token"
