pytest_plugins = ["hocba_runtime.testing"]
