import sys

from lighter_cli.main import main

sys.exit(main())
