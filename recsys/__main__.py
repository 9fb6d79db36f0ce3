from recsys.cli import main

raise SystemExit(main())
