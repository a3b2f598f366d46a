# Turn a text file into a C source defining one NUL-terminated char array:
#   cmake -DINPUT=file -DOUTPUT=file.c -DNAME=symbol -P embed.cmake
# Used to compile src/py/boot.py into the binary, so that the Python stays a
# real file (read, linted and tested as Python) and the binary needs nothing
# beside it at run time.
file(READ "${INPUT}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE "${OUTPUT}"
  "/* Generated from ${INPUT} by cmake/embed.cmake: do not edit. */\n"
  "extern const char ${NAME}[];\n"
  "const char ${NAME}[] = {\n    ${bytes}0x00\n};\n")
