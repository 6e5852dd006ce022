from harmony_matrix.cli import main

main()
