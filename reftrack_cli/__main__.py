import sys

from reftrack_cli.main import main

sys.exit(main())
