pytest_plugins = ["hocba_devstack.testing"]
