from harmony_app.cli import main

main()
