import sys

from fcw.cli import main

sys.exit(main())
