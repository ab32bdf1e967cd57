import sys

from retrain_gate.cli import main

sys.exit(main())
