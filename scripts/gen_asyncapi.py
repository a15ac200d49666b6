"""Regenerate docs/asyncapi/<service>.yaml from the services' FastStream apps (`make docs`)."""

from hocba_devstack.asyncapi import write_all

for path in write_all():
    print(path)
