#ifndef FINETOP_CNCURSES_SHIM_H
#define FINETOP_CNCURSES_SHIM_H
#define NCURSES_WIDECHAR 1
#ifndef _XOPEN_SOURCE_EXTENDED
#define _XOPEN_SOURCE_EXTENDED 1
#endif
#include <locale.h>
#include <wchar.h>
#include <ncursesw/curses.h>

int wcwidth(wchar_t c);

/* Swift 6 rejects the mutable global `stdscr`; reach it through a function. */
static inline WINDOW *finetop_stdscr(void) { return stdscr; }
static inline int finetop_lines(void) { return LINES; }
static inline int finetop_cols(void) { return COLS; }
static inline int finetop_colors(void) { return COLORS; }
static inline int finetop_color_pair(int n) { return (int)COLOR_PAIR(n); }

/* newterm instead of initscr: a missing terminfo entry is an error we report, not an exit. */
static inline SCREEN *finetop_newterm(void) { return newterm(NULL, stdout, stdin); }

/* Attribute bits are built by macros Swift cannot import. */
static inline attr_t finetop_attrs(int bold, int dim, int reverse, int underline) {
    attr_t a = A_NORMAL;
    if (bold) a |= A_BOLD;
    if (dim) a |= A_DIM;
    if (reverse) a |= A_REVERSE;
    if (underline) a |= A_UNDERLINE;
    return a;
}
#endif
