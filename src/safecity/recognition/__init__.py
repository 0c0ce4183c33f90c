"""Checkpoints and recognition: plates and faces read from camera images, watch-listed with review.

Cameras and edge boxes post either what they recognised (`plate_read`, `face_match`) or the image
itself; the platform then reads plates (OpenCV regions, rapidocr's PP-OCR models) and faces (dlib
embeddings, a FAISS index) in worker processes behind the bus, matches them against watchlists
that tolerate the OCR's confusions, and puts every face hit before a human reviewer before any
alert reaches a unit.
"""
