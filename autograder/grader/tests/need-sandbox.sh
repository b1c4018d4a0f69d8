# Sourced by the tests that grade submissions in the sandbox, with $grade set to hvlab-grade:
# on a machine that refuses the namespaces bwrap needs (a container, a chroot) the test is
# skipped (status 77, ctest's SKIP_RETURN_CODE) with the reason; any other problem fails it.
sandbox_status=0
sandbox_why=$("$grade" --check-sandbox 2>&1) || sandbox_status=$?
if [ "$sandbox_status" != 0 ]; then
  echo "$sandbox_why"
  if [ "$sandbox_status" = 3 ]; then
    echo "SKIP: submissions cannot be graded sandboxed on this machine"
    exit 77
  fi
  exit 1
fi
