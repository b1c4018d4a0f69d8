/* The monitor's selectors in its GDT's last slots (src/descriptors.hpp), for C++ and for the
   assembly of the trap path (kernel/trap_entry.S). Plain defines: the assembler includes this too. */
#ifndef LAB01_SELECTORS_H
#define LAB01_SELECTORS_H

#define LAB01_TRAP_CS 0xffd8     /* slot 8187: the trap pages' code, at the top of the window */
#define LAB01_MONITOR_CS 0xffe0  /* slot 8188: the monitor's code, base 0xF0000000 */
#define LAB01_MONITOR_DS 0xffe8  /* slot 8189: the monitor's data and stack, base 0xF0000000 */
#define LAB01_MONITOR_TSS 0xfff0 /* slot 8190 */
#define LAB01_MONITOR_LDT 0xfff8 /* slot 8191: the shadow LDT */

#endif
