import sys

from testgen.cli.main import main

sys.exit(main())
