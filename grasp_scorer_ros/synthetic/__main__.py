import sys

from grasp_scorer_ros.synthetic.cli import main

sys.exit(main())
