from rag_video.cli import main

main()
