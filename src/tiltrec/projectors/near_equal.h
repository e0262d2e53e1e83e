/* The size of the next part when `units` remain to be split into near-equal parts of at most `most` units each:
 * the parts of 11 at most 8 are 6 and 5, not 8 and 3.  Taken again on what remains, it gives the same sizes as
 * fixing the number of parts at the start.  Shared by the flat kernels' Y chunks and bands and the IMOD
 * interpolation's row chunks. */
#ifndef TILTREC_NEAR_EQUAL_H
#define TILTREC_NEAR_EQUAL_H
static inline long near_equal_part(long units, long most)
{
    const long parts = (units + most - 1) / most;
    return parts ? (units + parts - 1) / parts : 0;
}
#endif
