{
  "targets": [
    {
      "target_name": "pvkit_shm",
      "sources": ["shm.cc", "bell.cc"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wno-cast-function-type"]
    }
  ]
}
