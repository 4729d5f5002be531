from tools import settings_doc


def test_configuration_doc_lists_every_variable():
    assert settings_doc.DOC.read_text() == settings_doc.render(), "run `make gen`"
