/* placeholder so the library has a source until src/py lands */
int cn_py_placeholder(void);
int cn_py_placeholder(void) { return 0; }
