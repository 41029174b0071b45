# npm ci for the export tests' zarrita. A failed install must not break the
# build of everything else: the test that needs zarrita then fails and says why.
execute_process(COMMAND "${NPM}" ci --prefix "${DIR}" --no-audit --no-fund --loglevel=error
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(WARNING "npm ci in ${DIR} failed (${rc}): the OME-Zarr reader test (zarrita) will fail")
endif()
