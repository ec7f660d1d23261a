pytest_plugins = ["bastion.chain.testing", "pytester"]
