"""Plain-Python tests of the knowledge component's chunking (no host needed)."""

import unittest

from app import CHUNK_CHARS, _terms, chunk


class Chunking(unittest.TestCase):
    def test_short_paragraphs_share_a_chunk(self):
        self.assertEqual(chunk("One.\n\nTwo."), ["One.\n\nTwo."])

    def test_headings_start_new_paragraphs_and_chunks_stay_bounded(self):
        text = "# A\n" + "Sentence one is here. " * 60 + "\n# B\nShort."
        pieces = chunk(text)
        self.assertGreater(len(pieces), 1)
        self.assertTrue(all(len(p) <= CHUNK_CHARS for p in pieces), [len(p) for p in pieces])
        self.assertTrue(pieces[-1].endswith("Short."))

    def test_a_long_paragraph_repeats_its_last_sentence_for_context(self):
        sentences = [f"Sentence number {i} says something." for i in range(60)]
        pieces = chunk(" ".join(sentences))
        last_of_first = pieces[0].split(". ")[-1].rstrip(".")
        self.assertIn(last_of_first, pieces[1])

    def test_an_endless_word_is_cut(self):
        pieces = chunk("x" * (CHUNK_CHARS * 2 + 5))
        self.assertEqual([len(p) for p in pieces], [CHUNK_CHARS, CHUNK_CHARS, 5])

    def test_blank_content_gives_no_chunks(self):
        self.assertEqual(chunk(" \n\n \n"), [])

    def test_terms_drop_stop_words_and_case(self):
        self.assertEqual(_terms("When do I plant Tomatoes?"), ["plant", "tomatoes"])


if __name__ == "__main__":
    unittest.main()
