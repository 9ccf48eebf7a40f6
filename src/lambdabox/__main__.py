from lambdabox.cli.main import main

raise SystemExit(main())
