from burststudio.cli import main

raise SystemExit(main())
