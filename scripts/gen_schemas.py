"""Write the JSON Schema snapshots of every payload (run through `make schemas`)."""

from hocba_contracts.schemas import write_snapshots

for path in write_snapshots():
    print(path.relative_to(path.parents[3]))
