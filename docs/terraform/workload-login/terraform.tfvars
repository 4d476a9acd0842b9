entropy_role      = "terraform"
entropy_client_id = "ci-runner-1"
