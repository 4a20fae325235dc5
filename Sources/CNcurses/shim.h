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
#endif
